package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/mcpexecutor/executor/sandbox"
)

func ExampleEngine_Run() {
	engine, err := sandbox.New(sandbox.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	// The Bridge is where tool calls leave the sandbox.
	weather := sandbox.BridgeFunc(func(ctx context.Context, call sandbox.Call) (json.RawMessage, error) {
		if call.Path != "weather.today" {
			return nil, fmt.Errorf("no tool named %s", call.Path)
		}
		return json.RawMessage(`{"ok":true,"data":{"celsius":21}}`), nil
	})

	res := engine.Run(context.Background(), sandbox.Request{
		Code: "```ts\n" + `
interface Reply { ok: boolean; data: { celsius: number } }
const r: Reply = await tools.weather.today({ city: "Lyon" });
console.log("got", r.data);
return r.data.celsius * 9 / 5 + 32;
` + "```",
		Bridge: weather,
		Limits: sandbox.Limits{Timeout: 5 * time.Second},
	})
	fmt.Println(res.Status, string(res.Value), res.Logs)
	// Output: completed 69.8 [[log] got {"celsius":21}]
}

func ExampleSuspend() {
	engine, err := sandbox.New(sandbox.Options{Prebuilt: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	code := `const n = await tools.count(); return await tools.deleteAll({ n })`
	approved := false
	bridge := sandbox.BridgeFunc(func(ctx context.Context, call sandbox.Call) (json.RawMessage, error) {
		switch {
		case call.Path == "count":
			return json.RawMessage(`3`), nil
		case !approved:
			return nil, &sandbox.Suspend{Reason: "needs approval"}
		}
		return json.RawMessage(`"deleted"`), nil
	})

	first := engine.Run(context.Background(), sandbox.Request{Code: code, Bridge: bridge})
	fmt.Println(first.Status, first.Suspended.Call.Path, string(first.Suspended.Call.Args), first.Suspended.Reason)

	// Later (even in another process): approve and replay the trace.
	approved = true
	second := engine.Run(context.Background(), sandbox.Request{Code: code, Bridge: bridge, Replay: first.Trace})
	fmt.Println(second.Status, string(second.Value))

	var s *sandbox.Suspend
	fmt.Println(errors.As(fmt.Errorf("wrapped: %w", &sandbox.Suspend{}), &s))
	// Output:
	// suspended deleteAll {"n":3} needs approval
	// completed "deleted"
	// true
}
