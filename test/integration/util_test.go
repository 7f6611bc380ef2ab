package integration

import (
	"os"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

func osArgs() []string { return os.Args }
