"""The process around the computation: the setup every entry point makes first
(startup: allocator and XLA settings), the console and log file, timing, and the
JSON/JSONL files that runs and tables share. Imports nothing above the errors."""
