// Package perf holds the provider's performance budget and, in its tests,
// the in-process Go benchmarks of a warm and a cold Mount that make bench
// checks the budget's allocation counts with.
package perf

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed budget.json
var budgetJSON []byte

// Budget is what a Mount may cost (budget.json). Allocation counts do not
// depend on the machine; the CPU and start-up times leave a margin for it.
type Budget struct {
	WarmMountAllocs    float64 `json:"warmMountAllocs"`
	ColdMountAllocs    float64 `json:"coldMountAllocs"`
	WarmMountCPUMillis float64 `json:"warmMountCPUMillis"`
	StartUpMillis      float64 `json:"startUpMillis"`
}

// LoadBudget returns the checked-in budget.
func LoadBudget() (Budget, error) {
	var b Budget
	if err := json.Unmarshal(budgetJSON, &b); err != nil {
		return Budget{}, fmt.Errorf("test/perf/budget.json: %w", err)
	}
	if b.WarmMountAllocs <= 0 || b.ColdMountAllocs <= 0 || b.WarmMountCPUMillis <= 0 || b.StartUpMillis <= 0 {
		return Budget{}, fmt.Errorf("test/perf/budget.json: every figure must be positive")
	}
	return b, nil
}
