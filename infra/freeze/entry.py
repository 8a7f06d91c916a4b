"""The standalone executable's entry point: `qwen-server.spec` freezes this file with the package."""

import multiprocessing

if __name__ == "__main__":
    # First thing: a process that uvicorn spawns for `serve --workers N` is this same executable, started with
    # multiprocessing's arguments instead of a subcommand; this call runs it as that worker and exits.
    multiprocessing.freeze_support()

    from qwen_server.cli import main

    main()
