// SPDX-License-Identifier: MIT
// ERC-20 balances for the tests: a mintable token, one whose balanceOf reverts, one whose
// balanceOf answers 7 bytes of garbage.
pragma solidity ^0.8.20;

contract TestToken {
    string public name;
    string public symbol;
    uint8 public decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
        emit Transfer(address(0), to, amount);
    }

    function mintMany(address[] calldata to, uint256 amount) external {
        for (uint256 i = 0; i < to.length; i++) {
            balanceOf[to[i]] += amount;
        }
        totalSupply += amount * to.length;
    }
}

contract RevertingToken {
    uint8 public decimals = 18;

    function balanceOf(address) external pure returns (uint256) {
        revert("RevertingToken: no balances here");
    }
}

// A token whose balanceOf burns every unit of gas it is given: in a multicall, the calls after
// it and the multicall itself are left with too little.
contract GasBurningToken {
    uint8 public decimals = 6;
    string public symbol = "BURN";
    string public name = "Gas Burner";

    function balanceOf(address) external view returns (uint256) {
        uint256 spent = 0;
        while (gasleft() > 0) {
            spent += 1;
        }
        return spent;
    }
}

// A token that reverts its every call with a reason a node might give for its rate limit.
contract RateLimitRevertingToken {
    fallback() external {
        revert("rate limit exceeded");
    }
}

contract GarbageToken {
    uint8 public decimals = 18;

    fallback() external {
        assembly {
            mstore(0, 0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20)
            return(0, 7)
        }
    }
}

// An old-style token whose symbol() and name() answer bytes32, not string (as MKR's do).
contract Bytes32Token {
    bytes32 public symbol;
    bytes32 public name;
    uint8 public decimals;

    constructor(bytes32 symbol_, bytes32 name_, uint8 decimals_) {
        symbol = symbol_;
        name = name_;
        decimals = decimals_;
    }
}

// An ERC-721-like contract: its Transfer indexes the token id too (four topics), so it is no
// ERC-20 transfer.
contract CollectibleToken {
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);

    function mint(address to, uint256 tokenId) external {
        emit Transfer(address(0), to, tokenId);
    }
}

// Sends ERC-20 Transfer logs but is no token: its decimals() reverts.
contract NoDecimalsToken {
    event Transfer(address indexed from, address indexed to, uint256 value);

    function decimals() external pure returns (uint8) {
        revert("no decimals here");
    }

    function mint(address to, uint256 amount) external {
        emit Transfer(address(0), to, amount);
    }
}

// What a hostile token may answer: a name of 10 KB and a symbol of binary bytes (not UTF-8).
contract HugeNameToken {
    uint8 public decimals = 18;
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function name() external pure returns (string memory) {
        bytes memory text = "Huge name 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR";
        for (uint256 i = 0; i < 8; i++) {
            text = abi.encodePacked(text, text); // 64 bytes doubled 8 times: 16 KB
        }
        return string(text);
    }

    function symbol() external pure returns (string memory) {
        bytes memory binary = hex"00ff0a1b7fc3";
        return string(binary);
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }
}

// Lies about its decimals: 2**200, which no amount could be scaled by.
contract HugeDecimalsToken {
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function decimals() external pure returns (uint256) {
        return 2 ** 200;
    }

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }
}
