"""Chain readers: EVM (web3.py AsyncWeb3) and Solana (solana-py AsyncClient)."""
