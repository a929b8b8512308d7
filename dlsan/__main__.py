from dlsan.cli import main

main()
