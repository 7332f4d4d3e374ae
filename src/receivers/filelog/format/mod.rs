//! Access-log formats: `format:` parses a load balancer's or web server's access
//! log line into the HTTP semantic conventions.
