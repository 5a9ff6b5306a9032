from fraudguard.cli import main

main()
