package sandbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/fastschema/qjs"
)

// errHost is what a script sees when a host function fails unexpectedly; the
// details go to the Engine's Logger, never into the VM.
var errHost = errors.New("internal error in the sandbox host")

// hostFunc is a host function body: it gets the run and the arguments
// converted to Go strings (the prelude only passes strings).
type hostFunc func(r *run, args []string) (*qjs.Value, error)

// register installs the host functions as globals; the prelude moves them
// into its closure and deletes the globals.
func (v *vm) register() {
	ctx := v.ctx
	v.host("__sbx_start", 2, func(r *run, a []string) (*qjs.Value, error) {
		seq, err := r.startCall(a[0], a[1])
		if err != nil {
			return nil, err
		}
		return ctx.NewInt32(int32(seq)), nil
	})
	v.host("__sbx_take", 0, func(r *run, _ []string) (*qjs.Value, error) {
		return ctx.NewString(r.takeDelivery()), nil
	})
	v.host("__sbx_done", 2, func(r *run, a []string) (*qjs.Value, error) {
		r.settle(a[0], a[1])
		return nil, nil
	})
	v.host("__sbx_log", 2, func(r *run, a []string) (*qjs.Value, error) {
		var text string
		if err := json.Unmarshal([]byte(a[1]), &text); err != nil {
			text = a[1]
		}
		r.addLog(a[0], text)
		return nil, nil
	})
	v.host("__sbx_emit", 1, func(r *run, a []string) (*qjs.Value, error) {
		return nil, r.emit(a[0])
	})
	v.host("__sbx_now", 0, func(r *run, _ []string) (*qjs.Value, error) {
		t, err := r.now()
		if err != nil {
			return nil, err
		}
		return ctx.NewFloat64(t), nil
	})
	v.host("__sbx_seed", 0, func(r *run, _ []string) (*qjs.Value, error) {
		s, err := r.seed()
		if err != nil {
			return nil, err
		}
		b := []byte{'['}
		for i, w := range s {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(w), 10)
		}
		return ctx.NewString(string(append(b, ']'))), nil
	})
}

// host registers one function. It frees the argument values qjs cloned for
// it, recovers its own panics (qjs would put a Go stack trace in the JS
// error) and refuses to run without a run attached.
func (v *vm) host(name string, nargs int, fn hostFunc) {
	v.ctx.SetFunc(name, func(this *qjs.This) (res *qjs.Value, err error) {
		vals := this.Args()
		defer func() {
			for _, a := range vals {
				func() {
					defer func() { _ = recover() }()
					a.Free()
				}()
			}
			if p := recover(); p != nil {
				if r := v.run; r != nil {
					r.e.log.Debug("sandbox: host function failed", "func", name, "panic", p)
				}
				res, err = nil, errHost
			}
		}()
		r := v.run
		if r == nil {
			return nil, errors.New("no execution is attached to this runtime")
		}
		if len(vals) < nargs {
			return nil, fmt.Errorf("%s: expected %d arguments", name, nargs)
		}
		args := make([]string, nargs)
		for i := range args {
			args[i] = vals[i].String()
		}
		return fn(r, args)
	})
}

// newSeed returns four random words for Math.random's generator.
func newSeed() []uint32 {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := make([]uint32, 4)
	for i := range s {
		s[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return s
}
