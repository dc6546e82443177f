from xstilts.cli import main

main()
