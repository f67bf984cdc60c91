from dstl_hpc.cli import main

raise SystemExit(main())
