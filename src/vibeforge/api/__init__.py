"""The HTTP, WebSocket and Socket.IO surface: thin routes over the services."""
