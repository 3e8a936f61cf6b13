// Starts Swagger UI on /docs. A file of its own: the page's CSP allows no inline script.
/* global SwaggerUIBundle */
globalThis.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // Never send this document to validator.swagger.io (the default): the page works offline.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
