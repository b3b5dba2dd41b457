package pulls_test

import (
	"tapioca/handlers/core"
	"tapioca/handlers/core/webhooks"
)

func hookFields(events ...string) webhooks.Fields {
	return webhooks.Fields{URL: core.Some("http://192.0.2.1/hook"), Events: core.Some(events)}
}
