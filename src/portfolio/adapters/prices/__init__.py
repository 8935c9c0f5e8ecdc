"""USD price sources over HTTP (httpx): DefiLlama and CoinGecko."""
