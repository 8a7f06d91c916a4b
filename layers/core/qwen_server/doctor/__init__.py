"""`qwen-server doctor`: every protocol step the gateway uses, tried against each account, with a diagnosis."""
