package provider

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

var (
	_ datasource.DataSource              = (*grantsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*grantsDataSource)(nil)
)

// NewGrantsDataSource returns the governed_grants data source.
func NewGrantsDataSource() datasource.DataSource {
	return &grantsDataSource{}
}

type grantsDataSource struct {
	data *providerData
}

// grantsDataSourceModel is the data source's configuration. The grants are
// built as Terraform values directly (grantItemValue), not through the model.
type grantsDataSourceModel struct {
	Principal      types.String `tfsdk:"principal"`
	Entitlement    types.String `tfsdk:"entitlement"`
	Status         types.String `tfsdk:"status"`
	ExpiringBefore types.String `tfsdk:"expiring_before"`
	Grants         types.List   `tfsdk:"grants"`
}

// grantsTypeName is the data source's type name.
const grantsTypeName = "governed_grants"

func (d *grantsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_grants"
}

func (d *grantsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists grants from the ledger, the system of record, optionally filtered. A grant whose expiry " +
			"has passed is listed as `expired` even before the apply that revokes it.",
		Attributes: map[string]schema.Attribute{
			"principal": schema.StringAttribute{
				MarkdownDescription: "Only grants to this principal (compared after normalisation).",
				Optional:            true,
			},
			"entitlement": schema.StringAttribute{
				MarkdownDescription: "Only grants of this entitlement.",
				Optional:            true,
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "Only grants with this status: one of " + ledgerStatusList + ". A grant is `pending` while its " +
					"target has not confirmed it, or after an apply stopped between the target and the ledger.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(ledgerStatuses...)},
			},
			"expiring_before": schema.StringAttribute{
				MarkdownDescription: "Only active grants that expire before this RFC 3339 timestamp.",
				Optional:            true,
				Validators:          []validator.String{timestampValidator{}},
			},
			"grants": schema.ListNestedAttribute{
				MarkdownDescription: "The matching grants, ordered by id.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id":          computed("The grant's id."),
						"principal":   computed("Who holds the access."),
						"entitlement": computed("The entitlement granted."),
						"ticket_id":   computed("The ticket that carried the request."),
						"approvers": schema.SetAttribute{
							MarkdownDescription: "Who approved the grant.",
							ElementType:         types.StringType,
							Computed:            true,
						},
						"break_glass": schema.BoolAttribute{
							MarkdownDescription: "Whether the grant was made under break-glass rules.",
							Computed:            true,
						},
						"status": computed("One of " + ledgerStatusList + "."),
						"active": schema.BoolAttribute{
							MarkdownDescription: "Whether the grant is in force now.",
							Computed:            true,
						},
						"granted_at":        computed("When the grant was issued."),
						"expires_at":        computed("When the grant expires."),
						"revoked_at":        computed("When the grant was revoked, if it was."),
						"revocation_reason": computed("Why the grant was revoked, if it was: " + ledgerReasonsList + "."),
						"revocation_pending": schema.BoolAttribute{
							MarkdownDescription: "Whether the grant is no longer active but its target has not removed the access yet.",
							Computed:            true,
						},
					},
				},
			},
		},
	}
}

func (d *grantsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		d.data = pd
	}
}

// Read lists the matching grants. Every filter is the store's to apply, in SQL
// through an index (ledger.GrantFilter), and the grants are read one by one
// into Terraform values, so that a filtered read over a long ledger costs what
// it returns, not the ledger's history. The provider's server answers most
// reads itself, with the same values, without the framework's walk of the
// result (readGrantsDirect); this is the framework's way, for the rest.
func (d *grantsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m grantsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := grantsConfig{principal: m.Principal.ValueStringPointer(), entitlement: m.Entitlement.ValueStringPointer(),
		status: m.Status.ValueStringPointer(), expiringBefore: m.ExpiringBefore.ValueStringPointer()}
	objectType, ok := resp.State.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		resp.Diagnostics.AddError(summaryListGrants, "The data source's schema is not an object; this is a bug in the provider.")
		return
	}
	state, diags := listGrants(ctx, d.data, c, objectType, req.Config.Raw)
	resp.Diagnostics.Append(diags...)
	if !diags.HasError() {
		resp.State.Raw = state
	}
}

// grantsConfig is the data source's filters, each nil when not set.
type grantsConfig struct {
	principal, entitlement, status, expiringBefore *string
}

// grantsFilter is the ledger's filter for c, with statuses judged at now;
// none is set when c can match no grant (a principal blank after trimming).
func grantsFilter(c grantsConfig, now time.Time) (f ledger.GrantFilter, none bool, diags diag.Diagnostics) {
	if c.entitlement != nil {
		f.Entitlement = *c.entitlement
	}
	if c.principal != nil {
		f.Identity = *c.principal
		none = policy.NormalizeIdentity(f.Identity) == ""
	}
	if c.status != nil {
		f.StatusAt, f.At = *c.status, now
	}
	if c.expiringBefore != nil {
		t, err := policy.ParseTimestamp(*c.expiringBefore)
		if err != nil {
			diags.AddError("Invalid expiring_before", err.Error())
			return f, none, diags
		}
		f.ExpiringBefore = t
	}
	return f, none, diags
}

// listGrants returns the data source's state for configuration config (of
// type objectType) with filters c: the configuration with its grants.
func listGrants(ctx context.Context, data *providerData, c grantsConfig, objectType tftypes.Object, config tftypes.Value) (tftypes.Value, diag.Diagnostics) {
	filter, none, diags := grantsFilter(c, data.now)
	if diags.HasError() {
		return tftypes.Value{}, diags
	}
	listType, ok := objectType.AttributeTypes["grants"].(tftypes.List)
	itemType, ok2 := listType.ElementType.(tftypes.Object)
	if !ok || !ok2 {
		diags.AddError(summaryListGrants, "The data source's schema has no list of grant objects; this is a bug in the provider.")
		return tftypes.Value{}, diags
	}
	items := []tftypes.Value{}
	if !none {
		err := data.ledger.EachGrant(ctx, filter, func(g ledger.Grant) error {
			items = append(items, grantItemValue(itemType, g, g.StatusAt(data.now)))
			return nil
		})
		if err != nil {
			addReadError(&diags, summaryListGrants, "the grants", err)
			return tftypes.Value{}, diags
		}
	}
	var attrs map[string]tftypes.Value
	if err := config.As(&attrs); err != nil {
		diags.AddError(summaryListGrants, "Reading the configuration: "+err.Error())
		return tftypes.Value{}, diags
	}
	attrs["grants"] = tftypes.NewValue(listType, items)
	return tftypes.NewValue(objectType, attrs), diags
}

// grantsObjectType is the Terraform type of governed_grants' schema.
var grantsObjectType = sync.OnceValue(func() tftypes.Object {
	var resp datasource.SchemaResponse
	NewGrantsDataSource().Schema(context.Background(), datasource.SchemaRequest{}, &resp)
	t, _ := resp.Schema.Type().TerraformType(context.Background()).(tftypes.Object)
	return t
})

// readGrantsDirect answers a ReadDataSource request for governed_grants
// without the framework: it decodes the configuration, reads the grants with
// the filter Read uses (grantsFilter) and encodes each one, as it is read,
// from the attributes Read maps it to (grantItemAttrs). The framework would
// hold every grant as a value, walk the result again (semantic equality,
// null blocks) and convert it, which costs far more than the reading for a
// long list and has no effect on this schema, which has no blocks and no
// custom types. It answers only when the result is a plain success with every
// filter known; for anything else (diagnostics, unknown values, an
// unconfigured provider) it reports false, and the framework answers, with
// its own diagnostics. TestGrantsDirectReadIsTheFrameworkRead holds the two
// answers equal byte for byte.
func readGrantsDirect(ctx context.Context, data *providerData, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, bool) {
	objectType := grantsObjectType()
	if data == nil || req.Config == nil || objectType.AttributeTypes == nil {
		return nil, false
	}
	config, err := req.Config.Unmarshal(objectType)
	if err != nil || !config.IsFullyKnown() || config.IsNull() {
		return nil, false
	}
	var attrs map[string]tftypes.Value
	if err := config.As(&attrs); err != nil {
		return nil, false
	}
	var c grantsConfig
	for name, dest := range map[string]**string{"principal": &c.principal, "entitlement": &c.entitlement,
		"status": &c.status, "expiring_before": &c.expiringBefore} {
		v, ok := attrs[name]
		if !ok {
			return nil, false
		}
		if v.IsNull() {
			continue
		}
		var str string
		if err := v.As(&str); err != nil {
			return nil, false
		}
		*dest = &str
	}
	filter, none, diags := grantsFilter(c, data.now)
	if len(diags) > 0 {
		return nil, false
	}
	// The state is encoded as the grants are read, in MessagePack as tftypes
	// encodes it, so that a long list is never held as values: the grants
	// go into chunks of a fixed size as they are read, and the state into
	// one buffer of its exact size at the end. The list's header comes
	// first but depends on the number of grants.
	items, ok := grantItemWriter()
	if !ok {
		return nil, false
	}
	var list chunkedWriter
	count := 0
	if !none {
		err := data.ledger.EachListedGrant(ctx, filter, func(g *ledger.Grant) error {
			count++
			items.write(list.next(), g, g.StatusAt(data.now))
			return nil
		})
		if err != nil {
			return nil, false
		}
	}
	var head, tail msgpackWriter
	names := slices.Sorted(maps.Keys(objectType.AttributeTypes))
	head.header(0x80, 16, len(names), 0xde)
	out := &head
	for _, name := range names {
		out.str(name)
		if name == "grants" {
			out.header(0x90, 16, count, 0xdc)
			out = &tail
			continue
		}
		v := attrs[name]
		var str string
		if v.IsNull() {
			out.b = append(out.b, 0xc0)
		} else if err := v.As(&str); err == nil {
			out.str(str)
		} else {
			return nil, false
		}
	}
	state := make([]byte, 0, len(head.b)+list.len()+len(tail.b))
	state = append(state, head.b...)
	state = list.appendTo(state)
	state = append(state, tail.b...)
	return &tfprotov6.ReadDataSourceResponse{State: &tfprotov6.DynamicValue{MsgPack: state}}, true
}

// chunkedWriter is MessagePack written in chunks of about chunkSize bytes,
// so that a long text never moves as it grows.
type chunkedWriter struct {
	done []msgpackWriter
	cur  msgpackWriter
	size int
}

const chunkSize = 256 << 10

// next returns the writer of the next value: the current chunk, or a new
// one once it is full.
func (c *chunkedWriter) next() *msgpackWriter {
	if len(c.cur.b) >= chunkSize {
		c.size += len(c.cur.b)
		c.done = append(c.done, c.cur)
		c.cur = msgpackWriter{}
	}
	if c.cur.b == nil && len(c.done) > 0 {
		// A long answer: the first chunk grew as a short one would.
		c.cur.b = make([]byte, 0, chunkSize+chunkSize/8)
	}
	return &c.cur
}

// len is the length of what c holds.
func (c *chunkedWriter) len() int { return c.size + len(c.cur.b) }

// appendTo appends what c holds to b.
func (c *chunkedWriter) appendTo(b []byte) []byte {
	for _, w := range c.done {
		b = append(b, w.b...)
	}
	return append(b, c.cur.b...)
}

// grantItems writes elements of the grants list (see grantItemWriter).
type grantItems struct {
	names []string // sorted
}

// grantItemWriter returns the writer of the grants list's elements, once it
// has checked that every attribute of the element type has a value of its
// type in grantItemAttr; false when one has not, which is a bug that the
// framework's read then answers instead.
var grantItemWriter = sync.OnceValues(func() (grantItems, bool) {
	listType, ok := grantsObjectType().AttributeTypes["grants"].(tftypes.List)
	if !ok {
		return grantItems{}, false
	}
	itemType, ok := listType.ElementType.(tftypes.Object)
	if !ok {
		return grantItems{}, false
	}
	w := grantItems{names: slices.Sorted(maps.Keys(itemType.AttributeTypes))}
	var sample ledger.Grant
	for _, name := range w.names {
		v, known := grantItemAttr(&sample, ledger.StatusActive, name)
		if !known || !itemType.AttributeTypes[name].Is(attrTypes[v.kind]) {
			return grantItems{}, false
		}
	}
	return w, true
})

// write appends one element of the grants list for g with its status as
// of now, its attributes in sorted order, as msgpackWriter.object would.
func (w grantItems) write(out *msgpackWriter, g *ledger.Grant, status string) {
	out.header(0x80, 16, len(w.names), 0xde)
	for _, name := range w.names {
		out.str(name)
		v, _ := grantItemAttr(g, status, name)
		if v.null {
			out.b = append(out.b, 0xc0)
			continue
		}
		switch v.kind {
		case attrStrings:
			out.header(0x90, 16, len(v.strs), 0xdc)
			for _, e := range v.strs {
				out.str(e)
			}
		case attrBool:
			if v.b {
				out.b = append(out.b, 0xc3)
			} else {
				out.b = append(out.b, 0xc2)
			}
		default:
			out.str(v.s)
		}
	}
}

// msgpackWriter encodes values of governed_grants' schema in MessagePack
// exactly as tftypes encodes them for the plugin protocol: objects as maps
// with their attributes in sorted order, the shortest header for each length,
// null as nil. TestGrantsDirectReadIsTheFrameworkRead compares the bytes.
type msgpackWriter struct{ b []byte }

// msgpackUnknown is an unknown value, which tftypes writes as the extension
// 0xd4 0x00 0x00 whatever its type.
type msgpackUnknown struct{}

// header writes a length header: the fixed form below fixed, else the 16- or
// 32-bit form after code16 or code16+1 (str8 is the caller's).
func (w *msgpackWriter) header(fixedBase byte, fixed, l int, code16 byte) {
	switch {
	case l < fixed:
		w.b = append(w.b, fixedBase|byte(l))
	case l <= 0xffff:
		w.b = append(w.b, code16, byte(l>>8), byte(l))
	default:
		w.b = append(w.b, code16+1, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	}
}

func (w *msgpackWriter) str(s string) {
	if l := len(s); l >= 32 && l < 256 {
		w.b = append(w.b, 0xd9, byte(l))
	} else {
		w.header(0xa0, 32, l, 0xda)
	}
	w.b = append(w.b, s...)
}

// object writes attrs as an object of type t; every attribute of t must be
// in attrs, with a value of its type.
func (w *msgpackWriter) object(t tftypes.Object, attrs map[string]any) error {
	if len(attrs) != len(t.AttributeTypes) {
		return errors.New("the attributes do not match the type")
	}
	names := slices.Sorted(maps.Keys(t.AttributeTypes))
	w.header(0x80, 16, len(names), 0xde)
	for _, name := range names {
		w.str(name)
		v, ok := attrs[name]
		if !ok {
			return errors.New("no value for " + name)
		}
		at := t.AttributeTypes[name]
		switch v := v.(type) {
		case nil:
			w.b = append(w.b, 0xc0)
		case msgpackUnknown:
			w.b = append(w.b, 0xd4, 0, 0)
		case string:
			if !at.Is(tftypes.String) {
				return errors.New(name + " is not a string")
			}
			w.str(v)
		case bool:
			if !at.Is(tftypes.Bool) {
				return errors.New(name + " is not a bool")
			}
			if v {
				w.b = append(w.b, 0xc3)
			} else {
				w.b = append(w.b, 0xc2)
			}
		case []string:
			if !at.Is(tftypes.Set{ElementType: tftypes.String}) && !at.Is(tftypes.List{ElementType: tftypes.String}) {
				return errors.New(name + " is not a collection of strings")
			}
			w.header(0x90, 16, len(v), 0xdc)
			for _, e := range v {
				w.str(e)
			}
		default:
			return errors.New(name + " has a value of no known kind")
		}
	}
	return nil
}

// grantAttrValue is the value of one attribute of an element of the grants
// list, of a kind: null, a string, a bool, or a set of strings.
type grantAttrValue struct {
	kind attrKind
	null bool
	s    string
	b    bool
	strs []string
}

// attrKind is the Terraform type of a grantAttrValue (attrTypes).
type attrKind uint8

const (
	attrString attrKind = iota
	attrBool
	attrStrings
)

var attrTypes = [...]tftypes.Type{attrString: tftypes.String, attrBool: tftypes.Bool,
	attrStrings: tftypes.Set{ElementType: tftypes.String}}

// grantItemAttr is one attribute, by name, of the element of the grants
// list for g with its status as of now; false for a name the element does
// not have. It reads only the grant's ledger.ListedFields. grantItemAttrs
// and the direct read's encoder (grantItems) both build from it, so that the
// two cannot map a grant differently.
func grantItemAttr(g *ledger.Grant, status, name string) (grantAttrValue, bool) {
	str := func(s string) grantAttrValue { return grantAttrValue{kind: attrString, s: s} }
	strOrNull := func(s string) grantAttrValue { return grantAttrValue{kind: attrString, null: s == "", s: s} }
	timeOrNull := func(at time.Time) grantAttrValue {
		if at.IsZero() {
			return grantAttrValue{kind: attrString, null: true}
		}
		return str(formatTime(at))
	}
	boolean := func(b bool) grantAttrValue { return grantAttrValue{kind: attrBool, b: b} }
	switch name {
	case "id":
		return str(g.ID), true
	case "principal":
		return str(g.Principal), true
	case "entitlement":
		return str(g.Entitlement), true
	case "ticket_id":
		return str(g.TicketID), true
	case "approvers":
		approvers := g.Approvers
		if approvers == nil {
			approvers = []string{}
		}
		return grantAttrValue{kind: attrStrings, strs: approvers}, true
	case "break_glass":
		return boolean(g.BreakGlass), true
	case "status":
		return str(status), true
	case "active":
		return boolean(status == ledger.StatusActive), true
	case "granted_at":
		return timeOrNull(g.GrantedAt), true
	case "expires_at":
		return str(g.ExpiresAt), true
	case "revoked_at":
		return timeOrNull(g.RevokedAt), true
	case "revocation_reason":
		return strOrNull(g.RevocationReason), true
	case "revocation_pending":
		return boolean(g.RevokePending), true
	}
	return grantAttrValue{}, false
}

// grantItemAttrNames are the attributes grantItemAttr knows.
var grantItemAttrNames = []string{"id", "principal", "entitlement", "ticket_id", "approvers", "break_glass", "status",
	"active", "granted_at", "expires_at", "revoked_at", "revocation_reason", "revocation_pending"}

// grantItemAttrs is one element of the grants list for g with its status as
// of now, attribute by attribute (grantItemAttr): a string, nil for null, a
// bool, or a []string for a set of strings.
func grantItemAttrs(g ledger.Grant, status string) map[string]any {
	attrs := make(map[string]any, len(grantItemAttrNames))
	for _, name := range grantItemAttrNames {
		v, _ := grantItemAttr(&g, status, name)
		switch {
		case v.null:
			attrs[name] = nil
		case v.kind == attrStrings:
			attrs[name] = v.strs
		case v.kind == attrBool:
			attrs[name] = v.b
		default:
			attrs[name] = v.s
		}
	}
	return attrs
}

// grantItemValue is one element of the grants list, of type t, for g with
// its status as of now: the value the framework would build from the
// element's attributes, made without reflection.
func grantItemValue(t tftypes.Object, g ledger.Grant, status string) tftypes.Value {
	attrs := map[string]tftypes.Value{}
	for name, v := range grantItemAttrs(g, status) {
		switch v := v.(type) {
		case nil:
			attrs[name] = tftypes.NewValue(t.AttributeTypes[name], nil)
		case []string:
			elems := make([]tftypes.Value, len(v))
			for i, e := range v {
				elems[i] = tftypes.NewValue(tftypes.String, e)
			}
			attrs[name] = tftypes.NewValue(t.AttributeTypes[name], elems)
		default:
			attrs[name] = tftypes.NewValue(t.AttributeTypes[name], v)
		}
	}
	return tftypes.NewValue(t, attrs)
}
