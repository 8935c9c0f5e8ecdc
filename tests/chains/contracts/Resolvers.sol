// SPDX-License-Identifier: MIT
// Hostile ENS resolvers for the tests: one that reverts, one that burns its gas, and one that
// lies (answers that are no address, and a reverse name that does not resolve back).
pragma solidity ^0.8.20;

contract RevertingResolver {
    function addr(bytes32) external pure returns (address) {
        revert("no address here");
    }

    function name(bytes32) external pure returns (string memory) {
        revert("no name here");
    }

    function supportsInterface(bytes4) external pure returns (bool) {
        return true;
    }
}

// Loops until its gas runs out, so the call fails with out of gas.
contract GasBurningResolver {
    uint256 private spins;

    function addr(bytes32) external returns (address) {
        while (true) {
            spins++;
        }
    }

    function name(bytes32) external returns (string memory) {
        while (true) {
            spins++;
        }
    }
}

contract LyingResolver {
    string private claimed;

    constructor(string memory claimed_) {
        claimed = claimed_;
    }

    // A word with its upper 12 bytes set: no address.
    function addr(bytes32) external pure returns (bytes32) {
        return bytes32(type(uint256).max);
    }

    // Whatever name it was made with, for any address.
    function name(bytes32) external view returns (string memory) {
        return claimed;
    }
}
