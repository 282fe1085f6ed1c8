"""What cctop prints and exits: the --once table and JSON document, --requests."""
