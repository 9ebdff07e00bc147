package registry

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Watcher keeps the registry from a file current. It polls the file's size,
// modification time and content; a changed file that fails to parse keeps
// the last good registry and is reported through OnReload.
type Watcher struct {
	path     string
	interval time.Duration
	logger   *zap.Logger
	// OnReload, when set before Start, is called after every reload attempt
	// with its error (nil on success).
	OnReload func(err error)

	cur     atomic.Pointer[Registry]
	modTime time.Time
	size    int64

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewWatcher loads path once; an error here is a start-up error.
func NewWatcher(path string, interval time.Duration, logger *zap.Logger) (*Watcher, error) {
	w := &Watcher{path: path, interval: interval, logger: logger}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	r, err := Load(path)
	if err != nil {
		return nil, err
	}
	w.cur.Store(r)
	w.modTime, w.size = st.ModTime(), st.Size()
	return w, nil
}

// Current returns the last good registry.
func (w *Watcher) Current() *Registry {
	if w == nil {
		return nil
	}
	return w.cur.Load()
}

// Start polls the file every interval on its own goroutine until Stop.
func (w *Watcher) Start() {
	if w.interval <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.Check()
			}
		}
	}()
}

// Stop ends polling and waits for the goroutine. Safe without Start.
func (w *Watcher) Stop() {
	if w == nil {
		return
	}
	w.once.Do(func() {
		if w.cancel != nil {
			w.cancel()
			<-w.done
		}
	})
}

// Check reloads the file if its size or modification time changed, and
// reports whether it did reload successfully. Check is not safe to call
// concurrently with itself (Start's goroutine is its only caller in
// production).
func (w *Watcher) Check() bool {
	st, err := os.Stat(w.path)
	if err != nil {
		w.failed(err)
		return false
	}
	if st.ModTime().Equal(w.modTime) && st.Size() == w.size {
		return false
	}
	w.modTime, w.size = st.ModTime(), st.Size()
	r, err := Load(w.path)
	if err != nil {
		w.failed(err)
		return false
	}
	if old := w.cur.Load(); old != nil && old.Version() == r.Version() {
		return false // touched, same content
	}
	w.cur.Store(r)
	if w.logger != nil {
		w.logger.Info("agent registry reloaded", zap.String("path", w.path), zap.String("version", r.Version()), zap.Int("entries", r.Len()))
	}
	if w.OnReload != nil {
		w.OnReload(nil)
	}
	return true
}

func (w *Watcher) failed(err error) {
	if w.logger != nil {
		w.logger.Warn("agent registry reload failed; keeping the last good version", zap.String("path", w.path), zap.Error(err))
	}
	if w.OnReload != nil {
		w.OnReload(err)
	}
}
