// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev A fee-on-transfer ERC20: while a fee is set, every transfer between two accounts delivers the
/// amount less `feeBps` of it (the fee is burned), as USDT-style tokens with a fee switched on do.
/// The fee can be switched on after setup, so that one test deploys, registers and funds normally first.
contract FeeToken is ERC20 {
    uint16 public feeBps;

    constructor() ERC20("Fee", "FEE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFee(uint16 bps) external {
        feeBps = bps;
    }

    function _update(address from, address to, uint256 value) internal override {
        uint256 fee = from == address(0) || to == address(0) ? 0 : value * feeBps / 10_000;
        super._update(from, to, value - fee);
        if (fee != 0) super._update(from, address(0), fee);
    }
}
