// Package faults is the gateway's fault harness. Its test, behind the build
// tag "faults" (scripts/test.sh runs it as its own step), builds the gateway
// binary, starts it as child processes on a MariaDB server of its own, and
// has a simulated provider deliver thousands of signed callbacks —
// duplicates, concurrent bursts, out-of-order events — while it kills the
// gateway with SIGKILL at random moments and kills and restarts MariaDB
// once; then it checks from the database that nothing acknowledged was lost
// and nothing was applied twice (promises P1, P2, P3 and P8 of DESIGN.md).
// It runs with one replica and with three replicas on one database.
//
//	go test -tags faults -v -count=1 ./faults/
//
// See docs/reliability.md for the design, the knobs and the figures.
package faults
