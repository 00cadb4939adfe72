"""ML3: metadata (names, namespaces, labels, annotations), workload selectors and target
references, unrendered template placeholders."""
