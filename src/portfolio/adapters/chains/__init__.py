"""Chain readers: EVM (web3.py AsyncWeb3) and Solana (solders over httpx)."""
