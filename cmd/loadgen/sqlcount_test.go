package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func comQ(q string) []byte { return append([]byte{comQuery}, q...) }

func TestScanCommands(t *testing.T) {
	var in bytes.Buffer
	in.Write(packet(1, []byte{0x03, 0xa2, 0, 0, 'r', 'o', 'o', 't'})) // handshake response: not a command, though it starts with 3
	in.Write(packet(0, comQ("START TRANSACTION")))
	in.Write(packet(0, comQ("SELECT * FROM `orders` WHERE order_no = 'x'")))
	in.Write(packet(0, comQ("  update `orders` SET version = version + 1")))
	in.Write(packet(0, comQ("INSERT INTO ledger_entries (a) VALUES (1)")))
	in.Write(packet(0, comQ("(SELECT 1)")))
	in.Write(packet(0, comQ("COMMIT")))
	in.Write(packet(0, []byte{0x0e})) // COM_PING
	in.Write(packet(0, comQ("ROLLBACK;")))
	sent := bytes.Clone(in.Bytes())
	var out bytes.Buffer
	got := map[string]int{}
	if err := scanCommands(&in, &out, func(k string) { got[k]++ }); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"START": 1, "SELECT": 2, "UPDATE": 1, "INSERT": 1, "COMMIT": 1, "cmd 14": 1, "ROLLBACK": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if !bytes.Equal(sent, out.Bytes()) {
		t.Error("the relayed bytes differ from the client's")
	}
}

func TestScanCommandsTruncatedPacket(t *testing.T) {
	in := bytes.NewReader(packet(0, comQ("SELECT 1"))[:7])
	if err := scanCommands(in, &bytes.Buffer{}, func(string) {}); err == nil {
		t.Fatal("a truncated packet passed")
	}
}

func TestSQLDelta(t *testing.T) {
	d := diffCounts(map[string]int64{"SELECT": 10, "COMMIT": 5, "cmd 14": 2},
		map[string]int64{"SELECT": 30, "COMMIT": 5, "UPDATE": 4, "INSERT": 6, "cmd 14": 2})
	if diff := cmp.Diff(sqlDelta{"SELECT": 20, "UPDATE": 4, "INSERT": 6}, d); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
	if d.Total() != 30 || d.Writes() != 10 {
		t.Errorf("total %d writes %d", d.Total(), d.Writes())
	}
	if got, want := d.per(10), "SELECT 2.00, INSERT 0.60, UPDATE 0.40"; got != want {
		t.Errorf("per callback %q, want %q", got, want)
	}
}

func TestWithAddr(t *testing.T) {
	got, was, err := withAddr("root@tcp(127.0.0.1:3306)/gw?parseTime=true", "127.0.0.1:4000")
	if err != nil {
		t.Fatal(err)
	}
	if was != "127.0.0.1:3306" || got != "root@tcp(127.0.0.1:4000)/gw?parseTime=true" {
		t.Errorf("withAddr = %q, %q", got, was)
	}
	if _, _, err := withAddr("not a dsn", "x"); err == nil {
		t.Error("a bad DSN passed")
	}
}
