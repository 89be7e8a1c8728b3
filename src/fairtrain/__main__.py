from fairtrain.cli import main

main()
