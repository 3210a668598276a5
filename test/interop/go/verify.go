// Checks flashtrail's checkpoints and proofs with the Go reference implementation that we did not write:
// golang.org/x/mod/sumdb/note (C2SP signed notes) and golang.org/x/mod/sumdb/tlog (RFC 6962 proofs).
//
// Usage: go run verify.go INPUT.json  (GOPATH mode, with Debian's golang-golang-x-mod-dev)
// Exit status 0 when every check passes; 1 with the failing check on stderr.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index    int64    `json:"index"`
	LeafHash string   `json:"leafHash"`
	Proof    []string `json:"proof"`
}

type input struct {
	VerifierKey   string      `json:"verifierKey"`
	OldCheckpoint string      `json:"oldCheckpoint"`
	Checkpoint    string      `json:"checkpoint"`
	Inclusion     []inclusion `json:"inclusion"`
	Consistency   []string    `json:"consistency"`
	// Signature lines note.Open must carry unverified (the ledger's ML-DSA-44 line, which it does not know).
	UnverifiedSigs int `json:"unverifiedSigs"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL "+format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		fail("bad hash %q", b64)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

// openCheckpoint verifies the signed note and parses origin, size and root from its text.
func openCheckpoint(verifiers note.Verifiers, msg string, unverified int) (int64, tlog.Hash) {
	n, err := note.Open([]byte(msg), verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != unverified {
		fail("note.Open: %d verified and %d unverified signatures, expected 1 and %d", len(n.Sigs), len(n.UnverifiedSigs), unverified)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint text has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size %q", lines[1])
	}
	return size, hash(lines[2])
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("input: %v", err)
	}
	verifier, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	size, root := openCheckpoint(verifiers, in.Checkpoint, in.UnverifiedSigs)
	checks := 1
	for _, inc := range in.Inclusion {
		proof := make(tlog.RecordProof, len(inc.Proof))
		for i, p := range inc.Proof {
			proof[i] = hash(p)
		}
		if err := tlog.CheckRecord(proof, size, root, inc.Index, hash(inc.LeafHash)); err != nil {
			fail("tlog.CheckRecord(index %d, size %d): %v", inc.Index, size, err)
		}
		checks++
	}
	if in.OldCheckpoint != "" {
		oldSize, oldRoot := openCheckpoint(verifiers, in.OldCheckpoint, in.UnverifiedSigs)
		proof := make(tlog.TreeProof, len(in.Consistency))
		for i, p := range in.Consistency {
			proof[i] = hash(p)
		}
		if err := tlog.CheckTree(proof, size, root, oldSize, oldRoot); err != nil {
			fail("tlog.CheckTree(%d -> %d): %v", oldSize, size, err)
		}
		checks += 2
	}
	fmt.Printf("ok %d checks\n", checks)
}
