package pgstore

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// proxy forwards TCP connections to the database and can cut them all, to
// stand for a network partition.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, addr: "127.0.0.1:0"}
	p.up()
	t.Cleanup(p.down)
	return p
}

// up starts accepting connections (again, on the same address).
func (p *proxy) up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.addr = ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(d, c); d.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, d); c.Close() })
		}
	})
}

// down refuses new connections and cuts the open ones.
func (p *proxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// TestPartition cuts a replica off the database: its calls fail with
// UNAVAILABLE, its listener retries with backoff, and once the network is
// back a change made meanwhile by another replica reaches its watchers.
// Close ends the listener even while it is retrying.
func TestPartition(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ConnConfig.Host) == 0 || cfg.ConnConfig.Host[0] == '/' {
		t.Skipf("%s uses a unix socket; the partition test needs TCP", envURL)
	}
	p := startProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(p.addr)
	portNum, _ := strconv.Atoi(port)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(portNum)
	cfg.ConnConfig.Fallbacks = nil
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pids := make(chan uint32, 10)
	a, err := New(context.Background(), pool, WithAutoMigrate(), withConnectHook(func(pid uint32) { pids <- pid }))
	if err != nil {
		t.Fatal(err)
	}
	<-pids
	b := newStore(t, schema) // direct, not through the proxy
	ctx := context.Background()
	name := mustCreate(t, b, rec("", "part", 0)).Operation.GetName()
	ch, stop := events(a, name)
	defer stop()

	p.down()
	if _, err := a.Get(ctx, name); status.Code(err) != codes.Unavailable {
		t.Errorf("Get while partitioned: %v (code %v); want UNAVAILABLE", err, status.Code(err))
	}
	if _, err := b.Update(ctx, name, func(r *lro.Record) error { r.CancelRequested = true; return nil }); err != nil {
		t.Fatal(err)
	}
	p.up()
	select {
	case <-pids:
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not reconnect after the partition")
	}
	waitEvent(t, ch, "the change made during the partition", func(ev lro.Event) bool { return ev.CancelRequested })
	if _, err := a.Get(ctx, name); err != nil {
		t.Errorf("Get after the partition: %v", err)
	}

	// Close while the listener is retrying.
	p.down()
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return while the listener was reconnecting")
	}
}
