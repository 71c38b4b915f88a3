from deliverwatch.cli import main

main()
