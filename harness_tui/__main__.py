from harness_tui.cli import main

main()
