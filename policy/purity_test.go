package policy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity keeps the engine pure: the package's own (non-test) files
// import only the standard library and never read the clock. The one
// exception is sigs.k8s.io/yaml, which turns an HPA behavior pasted as YAML
// into JSON for encoding/json (ParseBehavior): it does no I/O and pulls in
// nothing of Kubernetes.
var allowedImports = map[string]bool{"sigs.k8s.io/yaml": true}

func TestPurity(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && !allowedImports[path] {
				t.Errorf("%s imports %s: policy must use the standard library only", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since" || sel.Sel.Name == "Until") {
				t.Errorf("%s: time.%s reads the clock; time is an argument of Decide", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
