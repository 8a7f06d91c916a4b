"""`python -m qwen_server.emulator --port P ...`."""

from qwen_server.emulator.cli import main

if __name__ == "__main__":
    main()
