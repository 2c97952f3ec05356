//! Consumer-side job handling: the generic [`runner`] (retries, failures, dead letters, completion) and one
//! processor per job topic ([`image`], [`video`]) that turns a raw upload into stored variants.

pub mod image;
pub mod runner;
pub mod transfer;
pub mod video;

pub use image::ImageProcessor;
pub use runner::{JobHandler, Processor, Services, Step};
pub use video::VideoProcessor;
