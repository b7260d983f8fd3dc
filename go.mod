module github.com/governed-entitlements/terraform-provider-governed

go 1.26.8
