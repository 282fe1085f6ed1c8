from cctop.cli import main

raise SystemExit(main())
