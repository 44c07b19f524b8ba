from mlbus.cli import main

raise SystemExit(main())
