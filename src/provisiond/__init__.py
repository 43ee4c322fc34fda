"""provisiond: an identity provisioning service that speaks the Microsoft Graph synchronization API."""
