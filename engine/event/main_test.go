package event

import "flag"

var update = flag.Bool("update", false, "rewrite frozen payloads in testdata")
