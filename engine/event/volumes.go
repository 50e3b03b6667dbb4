package event

// Volume describes one blob volume of the registry (hsm.Spec in the
// engine's terms). Credentials are never recorded.
type Volume struct {
	Name      string    `cbor:"1,keyasint"`
	Kind      string    `cbor:"2,keyasint"` // "primary" or "secondary"
	Type      string    `cbor:"3,keyasint"` // "local" or "s3"
	Path      string    `cbor:"4,keyasint,omitempty"`
	Layout    string    `cbor:"5,keyasint,omitempty"`
	Compress  bool      `cbor:"6,keyasint,omitempty"`
	Threshold int       `cbor:"7,keyasint,omitempty"`
	S3        *VolumeS3 `cbor:"8,keyasint,omitempty"`
}

// VolumeS3 locates an S3 volume.
type VolumeS3 struct {
	Endpoint     string `cbor:"1,keyasint"`
	Region       string `cbor:"2,keyasint,omitempty"`
	Bucket       string `cbor:"3,keyasint"`
	Prefix       string `cbor:"4,keyasint,omitempty"`
	StorageClass string `cbor:"5,keyasint,omitempty"`
	TLS          bool   `cbor:"6,keyasint,omitempty"`
}

// VolumeCreated registers a volume.
type VolumeCreated struct {
	Volume Volume `cbor:"1,keyasint"`
}

// VolumeModified replaces a volume's settings (its name and type stay).
type VolumeModified struct {
	Volume Volume `cbor:"1,keyasint"`
}

// VolumeDeleted removes an empty volume from the registry.
type VolumeDeleted struct {
	Name string `cbor:"1,keyasint"`
}

// VolumeCurrentSet makes a volume the current one of its kind: the
// current primary receives new blobs, the current secondary is where HSM
// moves go.
type VolumeCurrentSet struct {
	Kind string `cbor:"1,keyasint"`
	Name string `cbor:"2,keyasint"`
}

// HSMPolicySet replaces the HSM policy: its lines, in order.
type HSMPolicySet struct {
	Lines []string `cbor:"1,keyasint,omitempty"`
}

func (VolumeCreated) Type() Type    { return TypeVolumeCreated }
func (VolumeModified) Type() Type   { return TypeVolumeModified }
func (VolumeDeleted) Type() Type    { return TypeVolumeDeleted }
func (VolumeCurrentSet) Type() Type { return TypeVolumeCurrentSet }
func (HSMPolicySet) Type() Type     { return TypeHSMPolicySet }
