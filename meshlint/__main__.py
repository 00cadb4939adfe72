from meshlint.cli import main

if __name__ == "__main__":
    main(prog="meshlint")
