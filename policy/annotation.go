package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// EncodeDecision renders d for the DecisionAnnotation: compact JSON without
// HTML escaping, so that the reason reads as written ("depth 4200 > ...")
// in kubectl output.
func EncodeDecision(d Decision) (string, error) {
	return encode(d)
}

// EncodeState renders s for the StateAnnotation.
func EncodeState(s State) (string, error) {
	return encode(s)
}

// DecodeDecision reads the DecisionAnnotation. An empty value is the zero
// Decision: none has been made yet.
func DecodeDecision(value string) (Decision, error) {
	return decode[Decision](DecisionAnnotation, value)
}

// DecodeState reads the StateAnnotation. An empty value is the zero State,
// the start of a new workload.
func DecodeState(value string) (State, error) {
	return decode[State](StateAnnotation, value)
}

func decode[T any](annotation, value string) (T, error) {
	var v T
	if strings.TrimSpace(value) == "" {
		return v, nil
	}
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", annotation, err)
	}
	return v, nil
}

func encode(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
