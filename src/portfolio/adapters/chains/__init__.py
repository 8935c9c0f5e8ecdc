"""Chain readers: EVM (JSON-RPC over httpx, eth-abi) and Solana (solders over httpx)."""
