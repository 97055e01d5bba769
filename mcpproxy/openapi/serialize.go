package openapi

import (
	"net/url"
	"strings"

	"github.com/valyala/fastjson"
)

// Parameter serialisation follows OpenAPI's style and explode rules:
// https://spec.openapis.org/oas/v3.1.0#style-values.

// scalar renders a JSON scalar as parameter text; objects and arrays
// nested inside a parameter value become their JSON text.
func scalar(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	case fastjson.TypeNull:
		return ""
	}
	return string(v.MarshalTo(nil))
}

// entry is one member of an array (key "") or object parameter value.
type entry struct{ key, value string }

// entries flattens a value one level: a scalar is one entry, an array one
// per item, an object one per member.
func entries(v *fastjson.Value) (list []entry, kind fastjson.Type) {
	switch v.Type() {
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			list = append(list, entry{"", scalar(item)})
		}
		return list, fastjson.TypeArray
	case fastjson.TypeObject:
		v.GetObject().Visit(func(k []byte, item *fastjson.Value) {
			if item.Type() != fastjson.TypeNull {
				list = append(list, entry{string(k), scalar(item)})
			}
		})
		return list, fastjson.TypeObject
	}
	return []entry{{"", scalar(v)}}, fastjson.TypeString
}

// hasBreak reports a character that must never reach a header or query
// value (security E8).
func hasBreak(s string) bool {
	return strings.ContainsAny(s, "\r\n\x00")
}

// pathValue serialises a path parameter; every value is escaped so that it
// stays inside its segment (security E7): "/" becomes %2F.
func pathValue(p paramMeta, v *fastjson.Value) string {
	if p.ContentType != "" {
		return url.PathEscape(string(v.MarshalTo(nil)))
	}
	list, kind := entries(v)
	esc := func(s string) string { return url.PathEscape(s) }
	join := func(sep, kvSep string, explode bool) string {
		parts := make([]string, 0, len(list)*2)
		for _, e := range list {
			switch {
			case kind != fastjson.TypeObject:
				parts = append(parts, esc(e.value))
			case explode:
				parts = append(parts, esc(e.key)+kvSep+esc(e.value))
			default:
				parts = append(parts, esc(e.key), esc(e.value))
			}
		}
		return strings.Join(parts, sep)
	}
	switch p.Style {
	case "label":
		if p.Explode {
			return "." + join(".", "=", true)
		}
		return "." + join(",", "=", false)
	case "matrix":
		name := esc(p.Name)
		if kind == fastjson.TypeString {
			return ";" + name + "=" + esc(list[0].value)
		}
		if p.Explode {
			parts := make([]string, len(list))
			for i, e := range list {
				if kind == fastjson.TypeObject {
					parts[i] = ";" + esc(e.key) + "=" + esc(e.value)
				} else {
					parts[i] = ";" + name + "=" + esc(e.value)
				}
			}
			return strings.Join(parts, "")
		}
		return ";" + name + "=" + join(",", "=", false)
	}
	return join(",", "=", p.Explode)
}

// queryEscape escapes query text, spaces as %20. allowReserved leaves the
// reserved characters that cannot change the query's structure.
func queryEscape(s string, allowReserved bool) string {
	e := strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	if allowReserved {
		r := strings.NewReplacer("%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";", "%5B", "[", "%5D", "]")
		e = r.Replace(e)
	}
	return e
}

// queryPairs serialises a query parameter into encoded name=value pairs.
func queryPairs(p paramMeta, v *fastjson.Value) []string {
	esc := func(s string) string { return queryEscape(s, p.AllowReserved) }
	name := esc(p.Name)
	if p.ContentType != "" {
		return []string{name + "=" + esc(string(v.MarshalTo(nil)))}
	}
	if p.Style == "deepObject" && v.Type() == fastjson.TypeObject {
		var out []string
		deepObject(p.Name, v, esc, &out)
		return out
	}
	list, kind := entries(v)
	if kind == fastjson.TypeString {
		return []string{name + "=" + esc(list[0].value)}
	}
	sep := ","
	switch p.Style {
	case "spaceDelimited":
		sep = "%20"
	case "pipeDelimited":
		sep = "%7C"
	}
	if p.Explode {
		out := make([]string, len(list))
		for i, e := range list {
			if kind == fastjson.TypeObject {
				out[i] = esc(e.key) + "=" + esc(e.value)
			} else {
				out[i] = name + "=" + esc(e.value)
			}
		}
		return out
	}
	parts := make([]string, 0, len(list)*2)
	for _, e := range list {
		if kind == fastjson.TypeObject {
			parts = append(parts, esc(e.key))
		}
		parts = append(parts, esc(e.value))
	}
	return []string{name + "=" + strings.Join(parts, sep)}
}

// deepObject writes name[key]=value pairs, recursing into nested objects;
// array members repeat the name.
func deepObject(prefix string, v *fastjson.Value, esc func(string) string, out *[]string) {
	switch v.Type() {
	case fastjson.TypeObject:
		v.GetObject().Visit(func(k []byte, item *fastjson.Value) {
			deepObject(prefix+"["+string(k)+"]", item, esc, out)
		})
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			deepObject(prefix, item, esc, out)
		}
	case fastjson.TypeNull:
	default:
		*out = append(*out, deepName(prefix, esc)+"="+esc(scalar(v)))
	}
}

// deepName escapes a deepObject name but keeps its brackets readable.
func deepName(name string, esc func(string) string) string {
	return strings.NewReplacer("%5B", "[", "%5D", "]").Replace(esc(name))
}

// headerValue serialises a header parameter (style simple).
func headerValue(p paramMeta, v *fastjson.Value) string {
	if p.ContentType != "" {
		return string(v.MarshalTo(nil))
	}
	list, kind := entries(v)
	parts := make([]string, 0, len(list)*2)
	for _, e := range list {
		switch {
		case kind != fastjson.TypeObject:
			parts = append(parts, e.value)
		case p.Explode:
			parts = append(parts, e.key+"="+e.value)
		default:
			parts = append(parts, e.key, e.value)
		}
	}
	return strings.Join(parts, ",")
}

// cookieEscape keeps a cookie value from closing itself or adding another
// cookie.
func cookieEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == ',' || c == ';' || c == '\\' || c == '%' || c >= 0x7f {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&0xf])))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// cookiePair serialises a cookie parameter (style form).
func cookiePair(p paramMeta, v *fastjson.Value) string {
	if p.ContentType != "" {
		return p.Name + "=" + cookieEscape(string(v.MarshalTo(nil)))
	}
	list, kind := entries(v)
	parts := make([]string, 0, len(list)*2)
	for _, e := range list {
		if kind == fastjson.TypeObject {
			parts = append(parts, cookieEscape(e.key))
		}
		parts = append(parts, cookieEscape(e.value))
	}
	return p.Name + "=" + strings.Join(parts, ",")
}
