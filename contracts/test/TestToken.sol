// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice The escrow token of local networks: anyone may mint up to a cap per call (a faucet).
/// @dev Deployed only on local chains by `scripts/deploy.py`; production uses a real ERC20.
contract TestToken is ERC20 {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @dev A single faucet call asked for more than `MAX_MINT`.
    error TestTokenMintTooLarge(uint256 requested, uint256 max);

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    uint256 public constant MAX_MINT = 1_000_000 ether;

    constructor() ERC20("TenantChain Test Token", "TCT") {}

    /// @notice Mint `amount` to `to`. Requirements: `amount <= MAX_MINT`. Emits {Transfer}.
    function mint(address to, uint256 amount) external {
        if (amount > MAX_MINT) revert TestTokenMintTooLarge(amount, MAX_MINT);
        _mint(to, amount);
    }
}
