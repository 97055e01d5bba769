package tsschema_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/mcpexecutor/executor/mcpproxy/tsschema"
)

// The shapes tools.describe.tool shows for two operations of a Pets API: the
// inputs inline, the components they refer to as named definitions.
func ExampleRenderer() {
	r := tsschema.NewRenderer(map[string]json.RawMessage{
		"NewPet": json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"tag":{"type":"string"}},"required":["name"]}`),
		"Pet":    json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"},"name":{"type":"string"},"tag":{"type":"string"}},"required":["id","name"]}`),
	})

	getPet := r.Type(json.RawMessage(`{"type":"object","properties":{"petId":{"type":"string"},"verbose":{"type":"boolean"}},"required":["petId"],"additionalProperties":false}`))
	createPet := r.Type(json.RawMessage(`{"type":"object","properties":{"body":{"$ref":"#/components/schemas/NewPet"}},"required":["body"]}`))
	fmt.Println("getPet:", getPet)
	fmt.Println("createPet:", createPet)

	defs := r.Definitions()
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		fmt.Printf("type %s = %s;\n", name, defs[name])
	}
	// Output:
	// getPet: { petId: string; verbose?: boolean; }
	// createPet: { body: NewPet; }
	// type NewPet = { name: string; tag?: string; };
}

func ExampleRenderer_Identifier() {
	r := tsschema.NewRenderer(map[string]json.RawMessage{"pet": nil, "Pet": nil})
	fmt.Println(r.Identifier("pet-store.Pet v2"))
	fmt.Println(r.Identifier("Pet"), r.Identifier("pet"))
	fmt.Println(r.Identifier("Record"))
	// Output:
	// PetStorePetV2
	// Pet Pet2
	// Record2
}

func ExampleRenderer_TypeNamed() {
	r := tsschema.NewRenderer(nil)
	fmt.Println(r.TypeNamed("Category", json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}},"required":["name"]}`)))
	fmt.Println(r.Definitions())
	// Output:
	// { name: string; children?: Category[]; }
	// map[Category:{ name: string; children?: Category[]; }]
}
