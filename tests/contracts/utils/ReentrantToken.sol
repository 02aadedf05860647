// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev A hostile ERC20: when armed, every transfer first calls back into `target` with `payload`
/// (as an ERC777-style hook would), records whether the re-entry succeeded, then transfers.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool public armed;
    uint256 public attempts;
    uint256 public successes;
    bytes public lastError;

    constructor() ERC20("Hostile", "HOST") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (armed) {
            armed = false; // one re-entry per arming
            ++attempts;
            (bool ok, bytes memory err) = target.call(payload);
            if (ok) ++successes;
            lastError = err;
        }
        super._update(from, to, value);
    }
}
