// Checks flashtrail's checkpoints and proofs with the Go reference implementation that we did not write:
// golang.org/x/mod/sumdb/note (C2SP signed notes) and golang.org/x/mod/sumdb/tlog (RFC 6962 proofs).
//
// Witness cosignatures (C2SP tlog-cosignature v1, Ed25519 type 0x04) are checked here from the spec alone: note.Open
// must accept a cosigned checkpoint by the ledger's line and leave the cosignature lines as unknown signers; each one
// is then verified with crypto/ed25519 over "cosignature/v1\ntime <T>\n" || the note text.
//
// Usage: go run verify.go INPUT.json  (GOPATH mode, with Debian's golang-golang-x-mod-dev)
// Exit status 0 when every check passes; 1 with the failing check on stderr.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
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
	// Cosigner verifier keys, <name>+<hex id>+<base64(0x04 || Ed25519 public key)>: each must have cosigned Checkpoint.
	Cosigners []string `json:"cosigners"`
	// Signature lines note.Open must carry unverified (the ledger's ML-DSA-44 line, which it does not know).
	UnverifiedSigs int `json:"unverifiedSigs"`
}

// checkCosignature verifies one cosignature/v1 line left unverified by note.Open.
func checkCosignature(n *note.Note, vkey string) int64 {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("cosigner key %q", vkey)
	}
	name := parts[0]
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		fail("cosigner key %q is not type 0x04", vkey)
	}
	pub := ed25519.PublicKey(raw[1:])
	h := sha256.Sum256(append(append([]byte(name), '\n', 0x04), pub...))
	id := binary.BigEndian.Uint32(h[:4])
	if fmt.Sprintf("%08x", id) != parts[1] {
		fail("cosigner key %q: key id", vkey)
	}
	for _, sig := range n.UnverifiedSigs {
		if sig.Name != name || sig.Hash != id {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig.Base64)
		if err != nil || len(b) != 4+8+ed25519.SignatureSize {
			fail("cosignature by %s: %d bytes", name, len(b))
		}
		ts := binary.BigEndian.Uint64(b[4:12])
		msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, n.Text)
		if !ed25519.Verify(pub, []byte(msg), b[12:]) {
			fail("cosignature by %s does not verify", name)
		}
		return int64(ts)
	}
	fail("no cosignature by %s", name)
	return 0
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
	if len(in.Cosigners) > 0 {
		n, err := note.Open([]byte(in.Checkpoint), verifiers)
		if err != nil {
			fail("note.Open: %v", err)
		}
		for _, c := range in.Cosigners {
			checkCosignature(n, c)
			checks++
		}
	}
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
