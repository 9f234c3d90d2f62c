// Barrel of io/: every public name of this folder is exported here.
export {};
