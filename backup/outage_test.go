package backup_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
)

// deliverDuringOutage delivers n messages while the repository is down
// and checks the engine accepts them and the lag shows; then up() ends
// the outage and the scanner catches up with nothing lost.
func deliverDuringOutage(t *testing.T, h *harness, down, up func()) {
	ctx := context.Background()
	e := h.eng
	if err := e.CreateDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := e.CreateAccount(ctx, engine.AccountSpec{Address: "carol@example.org", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitShipped()
	down()
	for i := 0; i < 20; i++ {
		h.clk.Add(time.Second)
		if _, err := e.Deliver(ctx, engine.Delivery{Recipients: []uint64{a.ID}, Body: message(i, 100+i*300)}); err != nil {
			t.Fatalf("engine refused mail during a repository outage: %v", err)
		}
	}
	// The lag is visible while the repository is down.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.sc.Live()
		if st.LagRecords >= 20 && st.State == "failing" && st.LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outage not visible: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.sc.Live().LagSeconds; got < 19 {
		t.Errorf("lag %v s, want at least the 20 s of records the clock moved through", got)
	}
	up()
	h.waitShipped()
	if st := h.sc.Live(); st.LagRecords != 0 || st.State != "running" {
		t.Errorf("after the outage: %+v", st)
	}
	got, err := catalogView(t, h.cat, a.ID, h.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := engineView(t, e, a.ID); !reflect.DeepEqual(got, want) || len(want.items) != 20 {
		t.Fatalf("after the outage the catalog has\n%v\nthe engine\n%v", got, want)
	}
	st, err := h.cat.AccountAt(ctx, a.ID, h.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range st.Items {
		if _, err := h.repo.ReadBlob(ctx, it.Digest); err != nil {
			t.Fatalf("blob of item %d: %v", it.ID, err)
		}
	}
}

func TestOutageFaultyVolume(t *testing.T) {
	var f *hsm.Faulty
	h := newHarness(t, func(v hsm.Volume) hsm.Volume { f = hsm.NewFaulty(v); return f })
	deliverDuringOutage(t, h, func() { f.SetOutage(true) }, func() { f.SetOutage(false) })
	if f.Failures(hsm.OpAny) == 0 {
		t.Fatal("no call failed during the outage")
	}
}

func TestOutageRealS3(t *testing.T) {
	srv := s3test.StartServer(t)
	h := newHarness(t, func(hsm.Volume) hsm.Volume {
		o := srv.Options()
		o.Prefix = "server1"
		v, err := s3vol.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	deliverDuringOutage(t, h, srv.Stop, srv.Restart)

}
