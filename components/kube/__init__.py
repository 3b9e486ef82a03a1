"""The namespace and the Kubernetes building blocks (pods, labels, timeouts) every group uses."""
