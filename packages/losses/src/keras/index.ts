// Barrel of keras/: the Keras functional-graph reader shared by the nsfwjs InceptionV3 users.
export * from './keras-graph.js';
