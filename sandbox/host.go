package sandbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
)

// The prelude reaches the host through one function, __sbx_host(op, …),
// which returns a number or a string; a string starting with "\x01" is an
// error message that the prelude throws as an Error.
const hostFunctionID = 1

// Host operations (the first argument of __sbx_host; see prelude.js).
const (
	opStart = 1 // (path, argsJSON) → call id
	opTake  = 2 // () → JSON {i, ok, v|e} of the result being delivered
	opDone  = 3 // (kind, payload) → 0: the main function settled
	opLog   = 4 // (level, JSON string) → 0
	opEmit  = 5 // (valueJSON) → 0
	opNow   = 6 // () → milliseconds since the epoch
	opSeed  = 7 // () → JSON [4 × uint32]
	opLimit = 8 // () → MaxResultBytes
)

// errHost is what a script sees when the host fails unexpectedly; details go
// to the Engine's Logger, never into the VM.
var errHost = errors.New("internal error in the sandbox host")

// host serves one __sbx_host call. args are the script's arguments (JSValues).
func (v *vm) host(id uint32, args []uint64) (ret uint64) {
	defer func() {
		if p := recover(); p != nil {
			if te, ok := p.(*trapError); ok {
				panic(te) // the instance is dead: end the whole call
			}
			v.log.Error("sandbox: host function panicked", "panic", p)
			ret = v.newString("\x01" + errHost.Error())
		}
	}()
	r := v.run
	// An int32 JSValue (NaN-boxed) has tag 0 in the high word.
	if id != hostFunctionID || r == nil || len(args) == 0 || args[0]>>32 != 0 {
		return v.newString("\x01" + errHost.Error())
	}
	arg := func(i int) string {
		if i < len(args) {
			return v.toString(args[i])
		}
		return ""
	}
	fail := func(err error) uint64 { return v.newString("\x01" + err.Error()) }
	switch uint32(args[0]) {
	case opStart:
		seq, err := r.startCall(arg(1), arg(2))
		if err != nil {
			return fail(err)
		}
		return v.newNumber(float64(seq))
	case opTake:
		return v.newString(r.takeDelivery())
	case opDone:
		r.settle(arg(1), arg(2))
	case opLog:
		raw := arg(2)
		var text string
		if json.Unmarshal([]byte(raw), &text) != nil {
			text = raw
		}
		r.addLog(arg(1), text)
	case opEmit:
		if err := r.emit(arg(1)); err != nil {
			return fail(err)
		}
	case opNow:
		t, err := r.now()
		if err != nil {
			return fail(err)
		}
		return v.newNumber(t)
	case opSeed:
		s, err := r.seed()
		if err != nil {
			return fail(err)
		}
		b := []byte{'['}
		for i, w := range s {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(w), 10)
		}
		return v.newString(string(append(b, ']')))
	case opLimit:
		return v.newNumber(float64(r.lim.MaxResultBytes))
	default:
		return fail(errHost)
	}
	return v.newNumber(0)
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
